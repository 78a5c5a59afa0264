import inspect
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import pytest

import mentor.errors as errors

#: Constructor arguments of every error class in mentor.errors; classes taking a message get one.
_ARGS = {
    "UnknownComponentError": ("env id", "mentor/DoorKey", ["mentor/MiniGrid-DoorKey-5x5-v0", "mentor/Hopper-v5"]),
    "InvalidActionError": ("jump", ["go forward", "turn left"]),
    "MissingDependencyError": ("vllm", "llm", "Fast generation"),
}
_CLASSES = [
    getattr(errors, name)
    for name in errors.__all__
    if inspect.isclass(getattr(errors, name)) and issubclass(getattr(errors, name), errors.MentorError)
]


# A spawned worker cannot import this test module, so the job is the builtin ``exec`` of this source.
_RAISE = "import mentor.errors\nraise getattr(mentor.errors, name)(*args, **kwargs)"


def _cases():
    for cls in _CLASSES:
        yield pytest.param(cls.__name__, _ARGS.get(cls.__name__, (f"{cls.__name__} happened.",)), {}, id=cls.__name__)
    yield pytest.param(
        "InvalidActionError", ("jump", ["go forward"]), {"reason": "the door is locked"}, id="InvalidActionError-reason"
    )


def test_every_error_class_has_a_case():
    custom = {cls.__name__ for cls in _CLASSES if "__init__" in vars(cls)}
    assert custom <= set(_ARGS), f"add constructor arguments for {sorted(custom - set(_ARGS))}"


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("name,args,kwargs", list(_cases()))
def test_an_error_raised_in_a_pool_worker_reaches_the_parent_unchanged(name, args, kwargs, start_method):
    expected = getattr(errors, name)(*args, **kwargs)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context(start_method)) as pool:
        future = pool.submit(exec, _RAISE, {"name": name, "args": args, "kwargs": kwargs})
        with pytest.raises(errors.MentorError) as caught:
            future.result(timeout=60)
    error = caught.value
    assert type(error) is type(expected)
    assert str(error) == str(expected)
    assert error.args == expected.args
    assert vars(error) == vars(expected)


def test_import_error_fields_survive_pickling():
    import pickle

    error = errors.MissingDependencyError("peft", "llm", "LoRA fine-tuning")
    error.name = "peft"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.msg, copy.name, copy.path) == (error.msg, "peft", None)
    assert (copy.package, copy.extra, copy.purpose) == ("peft", "llm", "LoRA fine-tuning")
