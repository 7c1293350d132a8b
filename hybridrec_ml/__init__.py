"""HybridRec science: data, models, training, evaluation and reporting. No orchestrator imports."""
