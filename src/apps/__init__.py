"""Applications built on the personal_assistant database layer."""
