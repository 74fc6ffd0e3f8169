"""The Theory page's dropout vs weight decay vs early stopping, trained side by side."""
