"""Paper claims: the experiments behind `optarena verify`, the decision rules and the verdicts."""
