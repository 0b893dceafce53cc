"""Baby Jubjub (circomlib form) + verifiable generator derivation (try-and-increment, x8 cofactor)."""
import hashlib
p = 21888242871839275222246405745257275088548364400416034343698204186575808495617
A_E, D_E = 168700, 168696
L = 2736030358979909402780800718157159386076813972158567259200215660948447373041
MA = 168698  # Montgomery A (B=1)
ID = (0, 1)
def inv(x): return pow(x, p - 2, p)
def add(P, Q):
    (x1, y1), (x2, y2) = P, Q
    t = D_E * x1 * x2 * y1 * y2 % p
    return ((x1 * y2 + y1 * x2) * inv(1 + t) % p, (y1 * y2 - A_E * x1 * x2) * inv(1 - t) % p)
def neg(P): return ((-P[0]) % p, P[1])
def mul(k, P):
    R = ID
    k %= L if k >= 0 else L
    while k:
        if k & 1: R = add(R, P)
        P = add(P, P); k >>= 1
    return R
def on_curve(P):
    x, y = P
    return (A_E * x * x + y * y - 1 - D_E * x * x * y * y) % p == 0
def sqrt(n):
    n %= p
    if n == 0: return 0
    if pow(n, (p - 1) // 2, p) != 1: return None
    q, s = p - 1, 0
    while q % 2 == 0: q //= 2; s += 1
    z = 5
    while pow(z, (p - 1) // 2, p) != p - 1: z += 1
    m, c, t, r = s, pow(z, q, p), pow(n, q, p), pow(n, (q + 1) // 2, p)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1: t2 = t2 * t2 % p; i += 1
        b = pow(c, 1 << (m - i - 1), p)
        m, c, t, r = i, b * b % p, t * b * b % p, r * b % p
    return r
def hash_to_point(tag: bytes, index: int):
    ctr = 0
    while True:
        h = hashlib.sha256(tag + index.to_bytes(8, "big") + ctr.to_bytes(4, "big")).digest()
        y = int.from_bytes(h, "big") % p
        # a x^2 + y^2 = 1 + d x^2 y^2  ->  x^2 = (1 - y^2) / (a - d y^2)
        x = sqrt((1 - y * y) * inv(A_E - D_E * y * y))
        if x is not None:
            P = mul(8, (min(x, p - x), y))  # clear cofactor
            if P != ID:
                assert mul(L, P) == ID and on_curve(P)
                return P
        ctr += 1
def to_mont(P):
    x, y = P
    u = (1 + y) * inv(1 - y) % p
    return (u, u * inv(x) % p)
