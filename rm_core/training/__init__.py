"""Training: the GRPO TrainSpec and its profiles, the verl launcher and its CPU patches."""
