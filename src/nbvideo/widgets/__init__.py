"""Live notebook views of a Project (anywidget): questions, storyboard, clips, timeline.

Import is lazy from the Project's display hooks, so `import nbvideo` does not need a widget
stack, and dependencies point one way: widgets -> project -> pipeline.
"""

from __future__ import annotations

from nbvideo.widgets.board import StoryboardBoard
from nbvideo.widgets.grid import ClipGrid
from nbvideo.widgets.questions import QuestionForm
from nbvideo.widgets.timeline import Timeline

__all__ = ["ClipGrid", "QuestionForm", "StoryboardBoard", "Timeline"]
