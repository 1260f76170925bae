"""Prints the 2^(j/64) table of hhc's f64 exp (compiler/src/passes/mathlib.rs).

For j in 0..64: T_j, the double nearest 2^(j/64), stored as its bits minus j<<46 (so that adding
k<<46 for k = 64q + j yields the bits of T_j·2^q), and the tail (2^(j/64) − T_j)/T_j as a double.
Uses 60-digit decimal arithmetic; float() of a decimal string is correctly rounded.
"""
from decimal import Decimal, getcontext

getcontext().prec = 60
LN2 = Decimal(2).ln()
adj, tail = [], []
for j in range(64):
    exact = (LN2 * j / 64).exp()
    t = float(str(exact))
    bits = int.from_bytes(__import__("struct").pack("<d", t), "little")
    adj.append((bits - (j << 46)) % (1 << 64))
    tl = float(str((exact - Decimal(t)) / Decimal(t)))
    tail.append(int.from_bytes(__import__("struct").pack("<d", tl), "little"))


def rust(name, xs):
    body = "".join(
        ("\n    " if i % 4 == 0 else " ") + f"0x{x:016x}," for i, x in enumerate(xs)
    )
    return f"pub const {name}: [u64; 64] = [{body}\n];"


print(rust("EXP2_SCALE_BITS", adj))
print(rust("EXP2_TAIL_BITS", tail))
