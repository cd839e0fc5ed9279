"""nhrpscope: read DMVPN captures (mGRE, NHRP, IPsec ESP)."""

__version__ = "0.1.0"
