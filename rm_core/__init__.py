"""rm_core: the rm-pipeline library - data, templates, rewards, training and evaluation.

Pure Python with no orchestrator inside, so it can be used and tested without Prefect.
"""
