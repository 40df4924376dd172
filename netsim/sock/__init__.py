"""struct sock: sndbuf/wmem accounting, sk_page_frag(), options, errors.

(Lands with the host/UDP issue.)"""

__all__: list[str] = []
