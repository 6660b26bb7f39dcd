"""From pairwise registrations to one transform per section, in the frame of a reference section.

Each accepted pair ``(j, i)`` says ``A_i ~ P_ji @ A_j`` (``P_ji`` maps section ``j``'s
pixels onto section ``i``). With each section matched to its ``neighbors`` predecessors
there are more equations than unknowns; their least-squares solution (with the
reference fixed to the identity) spreads each pair's error over the chain instead of
letting it accumulate, which is the drift control. Pairs that are weak (low correlation,
few agreeing patches) or implausible (scale or shear far from a section's) are dropped;
a section left without any accepted pair is damaged or blank: its transform is
interpolated from its neighbours' and its status says so.

Elastic fields are chained the same way, per grid node, with a weak pull of every
field towards zero (``stiffness``) so that the sum of many small pairwise fields cannot
drift away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from brushlab.align._pairwise import PairResult

__all__ = ["accept", "solve_matrices", "solve_robust", "bridges", "solve_fields"]

_MIN_INLIERS = 6


def accept(pairs: Mapping[tuple[int, int], PairResult], *, min_score: float = 0.05,
           relative: float = 0.3, max_distortion: float = 0.2) -> dict[tuple[int, int], float]:
    """Weights of the pairs to trust: ``{(j, i): weight}`` (the others are left out).

    A pair is dropped when its score is below ``min_score`` or ``relative`` times the
    median score of all pairs, when fewer than 6 patches agreed, or when its linear part
    scales or shears by more than ``max_distortion`` (a wild transform).
    """
    scores = np.array([p.score for p in pairs.values()]) if pairs else np.zeros(0)
    floor = max(min_score, relative * float(np.median(scores))) if len(scores) else min_score
    out = {}
    for key, pair in pairs.items():
        singular = np.linalg.svd(pair.matrix[:2, :2], compute_uv=False)
        plausible = bool(np.all(np.abs(singular - 1) <= max_distortion))
        if pair.score >= floor and pair.inliers >= _MIN_INLIERS and plausible:
            out[key] = max(pair.score, 1e-3)
    return out


def _normaliser(shape: Sequence[int]) -> np.ndarray:
    """Pixels -> coordinates centred on the section, about -1..1 (to weigh shifts and turns)."""
    half = np.array(shape, dtype=np.float64) / 2
    norm = np.eye(3)
    norm[:2, :2] /= half.max()
    norm[:2, 2] = -half / half.max()
    return norm


def _connected(n: int, edges: Sequence[tuple[int, int]], start: int) -> set[int]:
    reach, frontier = {start}, [start]
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    while frontier:
        for other in neighbours.get(frontier.pop(), []):
            if other not in reach:
                reach.add(other)
                frontier.append(other)
    return reach


def solve_matrices(n: int, pairs: Mapping[tuple[int, int], PairResult],
                   weights: Mapping[tuple[int, int], float], reference: int,
                   shape: Sequence[int], stiffness: float = 0.0) -> tuple[np.ndarray, list[str]]:
    """Matrices ``(n, 3, 3)`` and per-section status from the accepted pairs.

    ``stiffness`` weighs the pull of each section's scale and shear towards none.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import lsqr

    norm = _normaliser(shape)
    inv = np.linalg.inv(norm)
    solved = _connected(n, list(weights), reference)
    order = sorted(solved - {reference})
    column = {z: k for k, z in enumerate(order)}
    rows, cols, vals, rhs = [], [], [], []
    eq = 0
    for (j, i), w in weights.items():
        if i not in solved or j not in solved:
            continue
        p = norm @ pairs[(j, i)].matrix @ inv  # A_i' = P' A_j' in normalised coordinates
        sw = float(np.sqrt(w))
        for r in range(2):
            for c in range(3):
                value = sw * (p[r, 2] if c == 2 else 0.0)
                if i != reference:
                    rows.append(eq)
                    cols.append(6 * column[i] + 3 * r + c)
                    vals.append(sw)
                elif r == c:
                    value -= sw
                for k in range(2):  # - P'[r, k] * A_j'[k, c]
                    coef = -sw * p[r, k]
                    if j != reference:
                        rows.append(eq)
                        cols.append(6 * column[j] + 3 * k + c)
                        vals.append(coef)
                    elif k == c:
                        value -= coef
                rhs.append(value)
                eq += 1
    # Drift control: every linear part is pulled towards a rotation (a = d, b = -c, and
    # a + d = 2, which a turn of a few degrees barely violates): the scale and shear that
    # neighbouring sections' anatomy adds pair by pair cannot build up along the chain.
    sl = float(np.sqrt(stiffness))
    for k in column.values():
        for entries, coefs, value in (((0, 4), (1, -1), 0.0), ((1, 3), (1, 1), 0.0),
                                      ((0, 4), (1, 1), 2.0)):
            for entry, coef in zip(entries, coefs):
                rows.append(eq)
                cols.append(6 * k + entry)
                vals.append(sl * coef)
            rhs.append(sl * value)
            eq += 1
    matrices = np.tile(np.eye(3), (n, 1, 1))
    if order:
        system = coo_matrix((vals, (rows, cols)), shape=(eq, 6 * len(order))).tocsr()
        solution = lsqr(system, np.asarray(rhs), atol=1e-12, btol=1e-12, iter_lim=20000)[0]
        for z, k in column.items():
            a = np.eye(3)
            a[:2] = solution[6 * k: 6 * k + 6].reshape(2, 3)
            matrices[z] = inv @ a @ norm
    status = ["reference" if z == reference else "ok" if z in solved else "interpolated"
              for z in range(n)]
    _interpolate(matrices, [z for z in range(n) if z in solved])
    return matrices, status


def pair_residuals(matrices: np.ndarray, pairs: Mapping[tuple[int, int], PairResult],
                   weights: Mapping[tuple[int, int], float],
                   shape: Sequence[int]) -> dict[tuple[int, int], float]:
    """How far (pixels, worst corner) each accepted pair disagrees with the solved chain."""
    h, w = shape
    corners = np.array([[0, 0, 1], [0, w, 1], [h, 0, 1], [h, w, 1]], dtype=np.float64).T
    return {(j, i): float(np.linalg.norm((matrices[i] @ corners
                                          - pairs[(j, i)].matrix @ matrices[j] @ corners)[:2],
                                         axis=0).max())
            for (j, i) in weights}


def solve_robust(n: int, pairs: Mapping[tuple[int, int], PairResult],
                 weights: Mapping[tuple[int, int], float], reference: int,
                 shape: Sequence[int], *, tolerance: float = 10.0, stiffness: float = 0.0,
                 ) -> tuple[np.ndarray, list[str], dict[tuple[int, int], float]]:
    """:func:`solve_matrices`, dropping the pair that disagrees most with the others.

    With each section matched to more than one predecessor, a wild pair (a damaged
    section, a fold, a repeated texture) contradicts the pairs around it. While the worst
    pair disagrees with the solution by more than ``tolerance`` pixels and by more than 3
    times the median disagreement, it is dropped and the chain solved again.
    """
    kept = dict(weights)
    while True:
        matrices, status = solve_matrices(n, pairs, kept, reference, shape, stiffness)
        if len(kept) < 2:
            return matrices, status, kept
        residuals = pair_residuals(matrices, pairs, kept, shape)
        worst = max(residuals, key=lambda key: residuals[key])
        typical = float(np.median(list(residuals.values())))
        if residuals[worst] > max(tolerance, 3 * typical):
            del kept[worst]
            continue
        # a section left with one pair of the three or more it had cannot be checked
        lonely = [z for z in range(n) if z != reference
                  and sum(z in key for key in kept) == 1 and sum(z in key for key in pairs) >= 3]
        if not lonely:
            return matrices, status, kept
        kept = {key: w for key, w in kept.items() if not set(key) & set(lonely)}


def _interpolate(values: np.ndarray, known: Sequence[int]) -> None:
    """Fill the entries of ``values`` (indexed by section) not in ``known``, linearly in z."""
    known = sorted(known)
    for z in range(len(values)):
        if z in known:
            continue
        before = [k for k in known if k < z]
        after = [k for k in known if k > z]
        if before and after:
            a, b = before[-1], after[0]
            t = (z - a) / (b - a)
            values[z] = (1 - t) * values[a] + t * values[b]
        else:
            values[z] = values[(before or after)[-1 if before else 0]]


def bridges(n: int, weights: Mapping[tuple[int, int], float], reference: int,
            tried: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs across gaps of unmatched sections, to try once: ``(last good, next)``."""
    solved = _connected(n, list(weights), reference)
    out = []
    for z in range(n):
        if z in solved:
            continue
        below = [k for k in solved if k < z]
        above = [k for k in solved if k > z]
        for anchor in ([max(below)] if below else []) + ([min(above)] if above else []):
            key = (min(anchor, z), max(anchor, z))
            if key not in tried and key not in out:
                out.append(key)
    return out


def solve_fields(n: int, fields: Mapping[tuple[int, int], np.ndarray],
                 weights: Mapping[tuple[int, int], float], reference: int,
                 stiffness: float) -> np.ndarray:
    """Per-section fields ``u`` with ``u_i - u_j ~ f_ji`` for each pair, ``u_ref = 0``.

    ``stiffness`` pulls every field towards zero (the affine solution); it bounds how far
    pairwise errors can add up along the chain.
    """
    any_field = next(iter(fields.values()))
    nodes = any_field.size
    laplace = np.zeros((n, n))
    rhs = np.zeros((n, nodes))
    for (j, i), f in fields.items():
        w = weights.get((j, i), 0.0)
        if w <= 0:
            continue
        laplace[i, i] += w
        laplace[j, j] += w
        laplace[i, j] -= w
        laplace[j, i] -= w
        rhs[i] += w * f.ravel()
        rhs[j] -= w * f.ravel()
    laplace += stiffness * np.eye(n)
    keep = [z for z in range(n) if z != reference]
    out = np.zeros((n, *any_field.shape), np.float32)
    if keep:
        sol = np.linalg.solve(laplace[np.ix_(keep, keep)], rhs[keep])
        out[keep] = sol.reshape(len(keep), *any_field.shape)
    return out
