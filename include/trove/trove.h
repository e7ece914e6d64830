/*
 * trove/trove.h - umbrella header: includes every public trove module.
 *
 * Modules (one header each, dependencies point one way):
 *   core     status codes, errors, allocation, logging, rng, id maps
 *   store    feature store and event log (SQLite by default)
 *   ingest   CSV/TSV/JSONL and preset readers into the store or memory
 *   dataset  sparse matrices, datasets, splits
 *   model    hybrid factorization model (LightFM-class)
 *   ials     implicit alternating least squares (iALS)
 *   ease     EASE closed-form item-item model
 *   recommender  one interface over the baselines and the hybrid model
 *   eval     ranking metrics, evaluation engine, comparison report
 *   config   market configuration files (YAML)
 *   experiment  GrowthBook-compatible bucketing into test and control
 *   ab       A/B statistics: lift, intervals, SRM, Holm, guardrails
 *   serve    the HTTP server behind `trove serve`
 */
#ifndef TROVE_TROVE_H
#define TROVE_TROVE_H

#include "trove/core.h"
#include "trove/store.h"
#include "trove/dataset.h"
#include "trove/model.h"
#include "trove/ingest.h"
#include "trove/ials.h"
#include "trove/ease.h"
#include "trove/recommender.h"
#include "trove/eval.h"
#include "trove/tuned.h"
#include "trove/tune.h"
#include "trove/config.h"
#include "trove/experiment.h"
#include "trove/ab.h"
#include "trove/serve.h"
#include "trove/cycle.h"
#include "trove/sim.h"
#include "trove/rules.h"
#include "trove/hunt.h"
#include "trove/monitor.h"

#endif /* TROVE_TROVE_H */
