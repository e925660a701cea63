"""The grader models: OpenAI's grader vocabulary as frozen pydantic models.

Each model's fields carry OpenAI's names and ``to_openai()`` gives exactly the JSON of the OpenAI
spec's ``Grader*`` schema, so one grader trains locally (as a reward function) and on OpenAI.
Fields that exist only locally (a judge callable, an embedder) are never serialized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from tunesdk.graders import templates
from tunesdk.graders.errors import GraderError

Sample = dict[str, Any]
Item = dict[str, Any]
Messages = list[dict[str, Any]]

Operation = Literal["eq", "ne", "like", "ilike"]
Metric = Literal[
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "cosine",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
]


class Grader(BaseModel):
    """Base of every grader: a ``name`` and a ``type`` (OpenAI's discriminator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: fields that exist only in tunesdk (never sent to OpenAI)
    _local_fields: ClassVar[frozenset[str]] = frozenset()

    type: str
    name: str = Field(min_length=1, description="the grader's name (also the reward's name)")

    def to_openai(self) -> dict[str, Any]:
        """This grader as the JSON OpenAI's ``Grader*`` schema defines."""
        return self.model_dump(mode="json", exclude_none=True, exclude=set(self._local_fields))

    @classmethod
    def from_openai(cls, data: dict[str, Any]) -> AnyGrader:
        """A grader from OpenAI's JSON (any kind, chosen by its ``type``)."""
        grader = _ADAPTER.validate_python(data)
        if cls is not Grader and not isinstance(grader, cls):
            raise ValueError(f"{cls.__name__}.from_openai got a {grader.type!r} grader")
        return grader

    def required_columns(self) -> frozenset[str]:
        """The dataset columns this grader reads (``{{item.answer}}`` → ``answer``)."""
        columns: set[str] = set()
        for template in self._templates():
            columns |= templates.item_columns(template)
        return frozenset(columns)

    def grade(self, sample: Sample, item: Item) -> float:
        """Score one sample (``{"output_text": ..., "output_json": ...}``) against its row."""
        raise NotImplementedError

    def _templates(self) -> list[str]:
        return []

    def _render(self, template: str, sample: Sample, item: Item) -> str:
        return templates.render(template, sample, item, grader=self.name)

    def _error(
        self, message: str, *, kind: str = "other_error", fix: str | None = None
    ) -> GraderError:
        return GraderError(message, grader=self.name, kind=kind, fix=fix)


def _check_templates(*texts: str) -> None:
    for text in texts:
        templates.placeholders(text)


class StringCheck(Grader):
    """1.0 when ``input`` and ``reference`` (both templates) pass ``operation``, else 0.0.

    ``eq``/``ne``: exact (in)equality; ``like``: ``reference`` occurs in ``input``;
    ``ilike``: the same, ignoring case.
    """

    type: Literal["string_check"] = "string_check"
    input: str = Field(description='the text checked, e.g. "{{sample.output_text}}"')
    reference: str = Field(description='the expected text, e.g. "{{item.answer}}"')
    operation: Operation

    @model_validator(mode="after")
    def _valid_templates(self) -> StringCheck:
        _check_templates(self.input, self.reference)
        return self

    def _templates(self) -> list[str]:
        return [self.input, self.reference]

    def grade(self, sample: Sample, item: Item) -> float:
        text = self._render(self.input, sample, item)
        reference = self._render(self.reference, sample, item)
        if self.operation == "eq":
            return float(text == reference)
        if self.operation == "ne":
            return float(text != reference)
        if self.operation == "like":
            return float(reference in text)
        return float(reference.casefold() in text.casefold())


class TextSimilarity(Grader):
    """How similar ``input`` is to ``reference`` by ``evaluation_metric``, from 0.0 to 1.0.

    Locally: ``fuzzy_match`` (normalized Indel similarity, as ``rapidfuzz.fuzz.ratio``/100),
    ``rouge_1`` … ``rouge_5`` and ``rouge_l`` (F-measure, ``rouge-score``), ``bleu`` and ``gleu``
    (NLTK), ``meteor`` (NLTK with its WordNet data), ``cosine`` (needs ``embedder``).
    ``pass_threshold`` is the evals API's pass mark (see ``passed``); OpenAI's fine-tuning grader
    has no such field, so ``to_openai()`` leaves it out.
    """

    _local_fields: ClassVar[frozenset[str]] = frozenset({"pass_threshold", "embedder"})

    type: Literal["text_similarity"] = "text_similarity"
    input: str = Field(description='the text graded, e.g. "{{sample.output_text}}"')
    reference: str = Field(description='the text graded against, e.g. "{{item.answer}}"')
    evaluation_metric: Metric
    pass_threshold: float | None = Field(None, description="a score at or above it passes")
    embedder: Callable[[list[str]], list[list[float]]] | None = Field(
        None, exclude=True, description="local only: texts → vectors, for the cosine metric"
    )

    @model_validator(mode="after")
    def _valid_templates(self) -> TextSimilarity:
        _check_templates(self.input, self.reference)
        return self

    def _templates(self) -> list[str]:
        return [self.input, self.reference]

    def passed(self, score: float) -> bool:
        """Whether ``score`` reaches ``pass_threshold`` (always, when there is none)."""
        return self.pass_threshold is None or score >= self.pass_threshold

    def grade(self, sample: Sample, item: Item) -> float:
        from tunesdk.graders import similarity

        text = self._render(self.input, sample, item)
        reference = self._render(self.reference, sample, item)
        try:
            return similarity.score(self.evaluation_metric, text, reference, embedder=self.embedder)
        except similarity.MetricUnavailable as exc:
            raise self._error(str(exc), fix=exc.fix) from None


class Python(Grader):
    """Your own Python: ``source`` defines ``grade(sample, item) -> float``.

    Locally it runs in this process, in a namespace of its own, with Python's normal builtins: it
    is *your* code, trusted like any reward function (not a sandbox). OpenAI runs it in its
    sandbox image ``image_tag``.
    """

    type: Literal["python"] = "python"
    source: str = Field(description="Python source defining grade(sample, item) -> float")
    image_tag: str | None = Field(None, description="OpenAI's grader image, e.g. 2025-05-08")

    def required_columns(self) -> frozenset[str]:
        """The columns the source reads as ``item["col"]`` (``item.get`` is optional, so not)."""
        from tunesdk.graders.python_source import subscripted_columns

        return frozenset(subscripted_columns(self.source))

    def function(self) -> Callable[[Sample, Item], Any]:
        """The source's ``grade`` function (compiled once per source)."""
        from tunesdk.graders.python_source import load_grade

        return load_grade(self.source, grader=self.name)

    def grade(self, sample: Sample, item: Item) -> float:
        from tunesdk.graders.python_source import call_grade

        return call_grade(self.function(), sample, item, grader=self.name)


class SamplingParams(BaseModel):
    """The judge's sampling parameters (OpenAI's spelling, ``max_completions_tokens`` too)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    max_completions_tokens: int | None = Field(None, ge=1)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = (
        None
    )


class ScoreModel(Grader):
    """A judge model reads ``input`` (messages with templates) and answers a score in ``range``.

    On OpenAI ``model`` is an OpenAI model. Locally the judge is ``judge`` — a callable
    ``messages -> text`` or any object with ``chat(messages) -> text`` (a tunesdk model handle) —
    or, without one, ``model`` read as a tunesdk model URI (``local:/path``) and asked through its
    ``chat()``. The score is the answer's ``{"result": x}`` (OpenAI's structured output) or its
    first number, clipped to ``range`` (default ``[0, 1]``).
    """

    _local_fields: ClassVar[frozenset[str]] = frozenset({"judge"})

    type: Literal["score_model"] = "score_model"
    model: str = Field(
        description='the judge: an OpenAI model, or a tunesdk URI like "local:/path"'
    )
    input: Messages = Field(min_length=1, description="messages; content may use templates")
    range: tuple[float, float] | None = Field(None, description="lowest and highest score; [0, 1]")
    sampling_params: SamplingParams | None = None
    judge: Any = Field(None, exclude=True, description="local only: a callable or a .chat() handle")

    @field_validator("input")
    @classmethod
    def _valid_messages(cls, messages: Messages) -> Messages:
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise ValueError(f"input[{index}] must be a message with 'role' and 'content'")
        _check_templates(*_message_texts(messages))
        return messages

    @field_validator("range")
    @classmethod
    def _valid_range(cls, bounds: tuple[float, float] | None) -> tuple[float, float] | None:
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {list(bounds)}")
        return bounds

    @field_validator("judge")
    @classmethod
    def _valid_judge(cls, judge: Any) -> Any:
        if judge is not None and not (callable(judge) or callable(getattr(judge, "chat", None))):
            raise ValueError("judge must be a callable messages -> text or have chat(messages)")
        return judge

    def _templates(self) -> list[str]:
        return _message_texts(self.input)

    def bounds(self) -> tuple[float, float]:
        """The score range (``[0, 1]`` when unset)."""
        return self.range if self.range is not None else (0.0, 1.0)

    def messages(self, sample: Sample, item: Item) -> Messages:
        """``input`` with every template filled in (what the judge reads)."""
        return [_render_message(self, message, sample, item) for message in self.input]

    def grade(self, sample: Sample, item: Item) -> float:
        from tunesdk.graders.judging import ask, parse_score

        answer = ask(self, self.messages(sample, item))
        low, high = self.bounds()
        score = parse_score(answer, grader=self.name)
        return min(max(score, low), high)


SubGrader = Annotated[
    StringCheck | TextSimilarity | Python | ScoreModel, Field(discriminator="type")
]


class Multi(Grader):
    """Several graders combined by a formula over their names: ``"0.7 * exact + 0.3 * fuzzy"``.

    ``graders`` maps a name (used in ``calculate_output``) to a grader. The formula may use
    numbers, those names, ``+ - * / ^`` (``^`` and ``**`` are powers) and ``min max abs floor
    ceil exp sqrt log``; it is parsed with ``ast`` and evaluated node by node, never ``eval``-ed.
    """

    type: Literal["multi"] = "multi"
    graders: dict[str, SubGrader] = Field(min_length=1)
    calculate_output: str = Field(
        description='a formula over the graders\' keys, e.g. "(a + b) / 2"'
    )

    @model_validator(mode="before")
    @classmethod
    def _single_grader(cls, data: Any) -> Any:
        # the OpenAI spec's schema gives ``graders`` as one grader object; key it by its name
        if isinstance(data, dict):
            graders = data.get("graders")
            if isinstance(graders, dict) and isinstance(graders.get("type"), str):
                data = {**data, "graders": {str(graders.get("name", graders["type"])): graders}}
        return data

    @model_validator(mode="after")
    def _valid_formula(self) -> Multi:
        from tunesdk.graders.formula import parse

        parse(self.calculate_output, names=set(self.graders))
        return self

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "graders": {key: grader.to_openai() for key, grader in self.graders.items()},
            "calculate_output": self.calculate_output,
        }

    def required_columns(self) -> frozenset[str]:
        return frozenset().union(*(g.required_columns() for g in self.graders.values()))

    def scores(self, sample: Sample, item: Item) -> dict[str, float]:
        """Each sub-grader's score, by key."""
        return {key: grader.grade(sample, item) for key, grader in self.graders.items()}

    def grade(self, sample: Sample, item: Item) -> float:
        from tunesdk.graders.formula import evaluate

        return evaluate(self.calculate_output, self.scores(sample, item), grader=self.name)


AnyGrader = Annotated[
    StringCheck | TextSimilarity | Python | ScoreModel | Multi, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyGrader)


def _message_texts(messages: Messages) -> list[str]:
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


def _render_message(
    grader: Grader, message: dict[str, Any], sample: Sample, item: Item
) -> dict[str, Any]:
    content = message["content"]
    if isinstance(content, str):
        return {"role": message["role"], "content": grader._render(content, sample, item)}
    parts = content if isinstance(content, list) else [content]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(grader._render(part, sample, item))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(grader._render(part["text"], sample, item))
    # local judges are text chat models: text parts are joined, images and audio are not sent
    return {"role": message["role"], "content": "\n".join(texts)}
