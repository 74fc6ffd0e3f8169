"""The Variants lab's backend: variants trained side by side."""
