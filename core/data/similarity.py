"""Which texts are near copies of which: the near-duplicate and leakage checks, and few-shot's picks.

Similarity is the cosine of TF-IDF character 3-5-grams (scikit-learn), case and punctuation ignored.
Comparing every pair costs rows squared: 50,000 tickets took a quarter of an hour. Above EXACT_PAIRS
pairs, MinHash LSH (datasketch) over each text's set of n-grams proposes the pairs worth comparing and
only those are scored, with the same cosine: a reported pair always meets the threshold, and the
search can only miss pairs, mostly ones whose n-gram sets overlap by less than about LSH_JACCARD
(its recall against the exact search is measured by benchmarks/prepare_scale.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EXACT_PAIRS = 4_000_000  # pairs compared one by one at most (2,000 rows against themselves); above, LSH
LSH_JACCARD = 0.5  # n-gram set overlap from about which LSH proposes a pair (25 bands of 5 permutations)
LSH_PERMUTATIONS = 128
CHUNK = 512  # rows scored at once (the exact search holds 512 x rows floats)
PAIRS = 20_000  # proposed pairs scored at once (two copies of their rows' n-gram weights)

Progress = Callable[[str, int], Any]  # (stage, total) -> context manager with .update(n), as the pipeline's
Pair = tuple[int, int, float]  # (row, its most similar other row, cosine)


def silent(stage: str, total: int) -> Any:
    """The progress of a caller that shows none: a bar that draws nothing."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=stage, disable=True)


@dataclass(frozen=True)
class NearCopies:
    within: list[Pair]  # training row, the other training row most similar to it, at the threshold or above
    across: list[Pair]  # test row, the training row most similar to it, at the threshold or above


def near_copies(
    train: list[str], test: list[str], threshold: float, progress: Progress = silent
) -> NearCopies:
    """Each text's most similar training text (never itself), where their similarity reaches `threshold`."""
    if not train:
        return NearCopies([], [])
    vectors = _vectors(train + test)
    index, asked = vectors[: len(train)], vectors[len(train) :]
    if len(train) * (len(train) + len(test)) <= EXACT_PAIRS:
        within, across = _most_similar(index, index, same=True), _most_similar(asked, index, same=False)
    else:
        within, across = _most_similar_proposed(index, asked, progress)

    def reaching(best: list[tuple[int, float]]) -> list[Pair]:
        return [(i, j, s) for i, (j, s) in enumerate(best) if j >= 0 and s >= threshold]

    return NearCopies(reaching(within), reaching(across))


def nearest(queries: list[str], corpus: list[str], k: int) -> tuple[Any, Any]:
    """(similarities, indices) of each query's k most similar corpus texts, most similar first."""
    from sklearn.neighbors import NearestNeighbors

    fitted = _vectors(corpus + queries)
    index, asked = fitted[: len(corpus)], fitted[len(corpus) :]
    search = NearestNeighbors(n_neighbors=min(k, len(corpus)), metric="cosine", algorithm="brute").fit(index)
    distances, indices = search.kneighbors(asked)
    return 1 - distances, indices


def _plain(text: str) -> str:
    """Lower case, punctuation as spaces: copies that differ only in punctuation are identical."""
    return " ".join(re.sub(r"[^\w\s]", " ", str(text).lower()).split())


def _vectors(texts: list[str]) -> Any:
    """TF-IDF rows (scipy CSR), L2-normalised, so that a dot product of two rows is their cosine."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    return vectorizer.fit_transform([_plain(t) for t in texts])


def _most_similar(asked: Any, index: Any, same: bool) -> list[tuple[int, float]]:
    """(index row, cosine) most similar to each asked row, every pair compared; (-1, 0.0) for none."""
    import numpy as np

    best: list[tuple[int, float]] = []
    for start in range(0, asked.shape[0], CHUNK):
        scores = (asked[start : start + CHUNK] @ index.T).toarray()
        rows = np.arange(scores.shape[0])
        if same:
            scores[rows, rows + start] = -1.0  # never its own match (TF-IDF cosines are >= 0)
        top = scores.argmax(axis=1)
        found = zip(top.tolist(), scores[rows, top].tolist(), strict=True)
        best += [(j, s) if s >= 0 else (-1, 0.0) for j, s in found]
    return best


def _most_similar_proposed(
    index: Any, asked: Any, progress: Progress
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """_most_similar of the training rows among themselves and of the test rows, among LSH's proposals."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=LSH_JACCARD, num_perm=LSH_PERMUTATIONS)
    train_signatures = _signatures(index, "near copies: signing training rows", progress)
    with lsh.insertion_session() as session:
        for j, signature in enumerate(train_signatures):
            session.insert(j, signature, check_duplication=False)
    within = _best_proposed(index, index, train_signatures, lsh, "near copies: training rows", progress)
    test_signatures = _signatures(asked, "near copies: signing test rows", progress)
    across = _best_proposed(asked, index, test_signatures, lsh, "near copies: test rows", progress)
    return within, across


def _signatures(vectors: Any, stage: str, progress: Progress) -> list[Any]:
    """A MinHash of each row's n-gram set (the columns it uses), so LSH sees what the cosine sees."""
    from datasketch import MinHash

    first = MinHash(num_perm=LSH_PERMUTATIONS, hashfunc=int)
    signatures = []
    with progress(stage, vectors.shape[0]) as bar:
        for row in range(vectors.shape[0]):
            signature = MinHash(hashfunc=int, permutations=first.permutations, scheme=first.scheme)
            signature.update_batch(vectors.indices[vectors.indptr[row] : vectors.indptr[row + 1]])
            signatures.append(signature)
            bar.update(1)
    return signatures


def _best_proposed(
    asked: Any, index: Any, signatures: list[Any], lsh: Any, stage: str, progress: Progress
) -> list[tuple[int, float]]:
    """_most_similar among the index rows LSH proposes for each asked row (never the row itself when
    asked is index), scored CHUNK rows at a time: one sparse product per row costs more in scipy's
    checks than in multiplying."""
    import numpy as np

    same = asked is index
    best: list[tuple[int, float]] = [(-1, 0.0)] * asked.shape[0]
    with progress(stage, len(signatures)) as bar:
        for start in range(0, len(signatures), CHUNK):
            rows = range(start, min(start + CHUNK, len(signatures)))
            pairs = [(i, j) for i in rows for j in lsh.query(signatures[i]) if not (same and i == j)]
            for part in np.array_split(np.array(pairs, dtype=np.int64), -(-len(pairs) // PAIRS) or 1):
                if not len(part):
                    continue
                cosines = np.asarray(asked[part[:, 0]].multiply(index[part[:, 1]]).sum(axis=1)).ravel()
                for (i, j), cosine in zip(part.tolist(), cosines.tolist(), strict=True):
                    if cosine > best[i][1] or (cosine == best[i][1] and j < best[i][0]) or best[i][0] < 0:
                        best[i] = (j, cosine)
            bar.update(len(rows))
    return best
