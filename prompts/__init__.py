"""Prompt templates shipped with llmapp (YAML files, loaded by name through llmapp.prompts)."""
