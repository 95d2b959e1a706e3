"""Build hook: the built-in template pack lives at the repository root (``templates/``: brief
templates and brand kits, data a director edits without opening ``src/``) and is shipped inside
the wheel as the package data ``nbvideo/templates``. Everything else is in pyproject.toml.

An editable install (``pip install -e .``) copies nothing: the code finds ``templates/`` beside
``src/`` (see ``nbvideo.model.templates.pack_dir``).

The wheel also enables the Jupyter server extension that receives Replicate's webhooks
(``nbvideo.serverext``): ``jupyter-config/jupyter_server_config.d/nbvideo.json`` is installed as
``{prefix}/etc/jupyter/jupyter_server_config.d/nbvideo.json``, which Jupyter reads from
sys.prefix. From an editable install, copy the file into ``~/.jupyter/jupyter_server_config.d/``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PACK = Path(__file__).resolve().parent / "templates"


class BuildPyWithTemplates(build_py):
    """build_py, then ``templates/`` copied to ``<build>/nbvideo/templates``."""

    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            shutil.copytree(PACK, Path(self.build_lib) / "nbvideo" / "templates",
                            dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", ".*"))


SERVER_CONFIG = "jupyter-config/jupyter_server_config.d/nbvideo.json"

setup(cmdclass={"build_py": BuildPyWithTemplates},
      data_files=[("etc/jupyter/jupyter_server_config.d", [SERVER_CONFIG])])
