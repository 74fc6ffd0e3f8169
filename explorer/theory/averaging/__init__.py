"""The Theory page's exact model averaging: every thinned network of a tiny net against weight scaling and MC."""
