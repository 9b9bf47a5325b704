"""Scale: a 100,000-trial study built, reopened and queried through the TrialScheduler core,
beside Optuna's in-memory and journal storages."""
