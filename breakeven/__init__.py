"""breakeven: when does a distributed dataframe engine pay off against one machine?"""

from __future__ import annotations

__version__ = "0.1.0"
