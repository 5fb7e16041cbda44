"""Answering held-out rows and scoring the answers: the answer stage, batched generation, the
few-shot baseline, metric helpers, paired comparison statistics and stage cost estimates."""
