"""Conversation steps. Each step can prompt (say its question and choices) and read input."""
