"""Training data: read any common fine-tuning format, validate it, convert it for every backend.

Nothing heavy is imported here: torch, transformers, datasets, pyarrow and tiktoken load only
inside the functions that need them.
"""

from tunesdk.data.contamination import ContaminationReport, Overlap, decontaminate
from tunesdk.data.convert import OUTPUT_FORMATS, axolotl_dataset_entry
from tunesdk.data.dataset import Dataset
from tunesdk.data.formats import FORMATS, KINDS
from tunesdk.data.mixing import mix
from tunesdk.data.preflight import DataCheck, check_training_data
from tunesdk.data.records import Conversation, Message, Preference, Source, Text, ToolCall
from tunesdk.data.report import Problem, Report
from tunesdk.data.rules import BACKENDS
from tunesdk.data.stats import Stats

__all__ = [
    "BACKENDS",
    "FORMATS",
    "KINDS",
    "OUTPUT_FORMATS",
    "ContaminationReport",
    "Conversation",
    "DataCheck",
    "Dataset",
    "Message",
    "Overlap",
    "Preference",
    "Problem",
    "Report",
    "Source",
    "Stats",
    "Text",
    "ToolCall",
    "axolotl_dataset_entry",
    "check_training_data",
    "decontaminate",
    "mix",
]
