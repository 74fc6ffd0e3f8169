"""The Theory page's backend: dropout as L2, exact model averaging, dropout vs other regularisers."""
