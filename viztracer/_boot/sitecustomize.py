"""Imported at the start of every Python that a program traced by ``viztracer`` starts (this
folder is first on its PYTHONPATH): trace it into the parent's report (viztracer.children),
then run the sitecustomize this one shadows, if there is one."""


def _trace_this_process() -> None:
    try:
        from viztracer.children import start_in_new_interpreter
    except Exception:  # noqa: BLE001 - another Python, without viztracer: leave it alone
        return
    try:
        start_in_new_interpreter()
    except Exception as exc:  # noqa: BLE001 - the program runs on, untraced, and says why
        import os
        import sys
        print(f"viztracer: can't trace process {os.getpid()}: {exc}", file=sys.stderr)


def _run_the_shadowed_one() -> None:
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_trace_this_process()
_run_the_shadowed_one()
