"""Recommendations out: top-K lists for every user (batch) and one user at a time (online), scored
through the models' `Recommender` interface, the same code the evaluation ranks with."""
