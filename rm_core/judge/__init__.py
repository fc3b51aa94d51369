"""What a judge is: prompt templates, answer parsers, the rewards verl calls, generation."""
