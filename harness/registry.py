"""The project's own mmengine registry scope, ``harness`` (scope name == package name, as mmengine's
``switch_scope_and_registry`` imports ``<scope>.registry``).

Every registry is a child of mmengine's root, so mmengine's own hooks, loops, optimizers and schedulers
resolve from here; mmaction2's datasets, transforms and metrics are re-registered into this scope by
:mod:`harness.data.pipeline` and :mod:`harness.engine.metrics` (``mmaction.models`` is never imported: it is broken
in the 1.2.0 wheel).
"""
from mmengine import registry as _root
from mmengine.registry import Registry

_NODES = dict(RUNNERS="runner", RUNNER_CONSTRUCTORS="runner constructor", LOOPS="loop", HOOKS="hook",
              DATASETS="dataset", DATA_SAMPLERS="data sampler", TRANSFORMS="transform", MODELS="model",
              MODEL_WRAPPERS="model_wrapper", WEIGHT_INITIALIZERS="weight initializer", OPTIMIZERS="optimizer",
              OPTIM_WRAPPERS="optim_wrapper", OPTIM_WRAPPER_CONSTRUCTORS="optimizer wrapper constructor",
              PARAM_SCHEDULERS="parameter scheduler", METRICS="metric", EVALUATOR="evaluator",
              TASK_UTILS="task util", VISUALIZERS="visualizer", VISBACKENDS="vis_backend",
              LOG_PROCESSORS="log_processor", INFERENCERS="inferencer", FUNCTIONS="function")
_LOCATIONS = dict(DATASETS=["harness.data.pipeline"], TRANSFORMS=["harness.data.pipeline"],
                  METRICS=["harness.engine.metrics"], HOOKS=["harness.engine.hooks"],
                  OPTIM_WRAPPER_CONSTRUCTORS=["harness.engine.optim"])

for _name, _node in _NODES.items():
    globals()[_name] = Registry(_node, parent=getattr(_root, _name), scope="harness",
                                locations=_LOCATIONS.get(_name, []))
