"""The Theory page's dropout as L2: input dropout on linear regression as ridge, closed form and trained."""
