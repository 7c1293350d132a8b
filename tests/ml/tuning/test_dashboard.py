"""optuna-dashboard (the README's command) reads the study's sqlite storage, served over real HTTP on 127.0.0.1."""

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import optuna_dashboard

from hybridrec_ml.config import VARIANTS
from hybridrec_ml.tuning.space import GateSetting, SearchSpace
from hybridrec_ml.tuning.study import StudyPlan, open_study


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_the_dashboard_lists_the_study_and_its_trials(tmp_path):
    plan = StudyPlan(f"sqlite:///{tmp_path / 'optuna.db'}", "lambda_pareto-x", VARIANTS["v2"], tmp_path / "models")
    study = open_study(plan)
    space = SearchSpace()
    for setting, values in ((GateSetting(0.0, 0.0, None), [0.05, 0.85]), (GateSetting(0.05, 0.01, 0.01), [0.048, 0.99])):
        params = space.params(setting)
        distributions = {name: optuna.distributions.FloatDistribution(*getattr(space, name), log=True)
                         if not isinstance(value, bool) else optuna.distributions.CategoricalDistribution([True, False])
                         for name, value in params.items()}  # fmt: skip
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, values=values))
    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(plan.storage_url), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        summaries = json.load(urllib.request.urlopen(f"{base}/api/studies"))["study_summaries"]
        assert [(s["study_name"], s["directions"]) for s in summaries] == [("lambda_pareto-x", ["maximize", "maximize"])]
        detail = json.load(urllib.request.urlopen(f"{base}/api/studies/{summaries[0]['study_id']}?after=0"))
        assert [t["values"] for t in detail["trials"]] == [[0.05, 0.85], [0.048, 0.99]]
        assert len(detail["best_trials"]) == 2  # neither dominates the other
    finally:
        server.shutdown()
