"""The Expression Task: evaluates ``@[User::X] = expression`` and stores the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssisrun.errors import ExpressionError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body

if TYPE_CHECKING:
    from ssisrun.runtime.context import TaskContext


class ExpressionTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        text = ctx.property("Expression", body.get("Expression") if body is not None else "")
        if not text or not text.strip():
            ctx.error(0xC0010001, "the Expression task has no expression")
            return TaskOutcome(ExecResult.Failure)
        from ssisrun.expressions import is_assignment

        scope = ctx.scope
        try:
            if is_assignment(text):
                step = ctx.compile_assignment(text, property="Expression")
                value = step.evaluate(scope)
                scope.set(step.target, value, step.target_type)
                return TaskOutcome(ExecResult.Success, value)
            compiled = ctx.compile_expression(text, property="Expression")
            return TaskOutcome(ExecResult.Success, compiled.evaluate(scope))
        except ExpressionError as exc:
            ctx.error(0xC00470A2, str(exc))
            return TaskOutcome(ExecResult.Failure)
