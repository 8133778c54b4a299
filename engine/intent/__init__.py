"""Intent classification with subword semantic hashing (Shridhar et al., arXiv:1810.07150).

``fit(read_labelled("train.csv"))`` trains a model; ``model.predict("how do I upgrade?")`` returns an
:class:`IntentPrediction` (intents with probabilities and the trigrams behind the decision).
Modules: :mod:`.data` (reading labelled files), :mod:`.features` (the trigram featurizer),
:mod:`.augment` (oversampling, synonyms, typos), :mod:`.classifiers` (the paper's suite and our
default), :mod:`.model` (training, prediction, evaluation), :mod:`.selection` (cross-validation on
training data), :mod:`.persistence` (safetensors files), :mod:`.catalog` (shipped and user models in
the registry, corrections), :mod:`.embeddings` (optional MiniLM sentence vectors), :mod:`.plots`.
"""

from engine.intent.data import LabelledTexts, read_labelled
from engine.intent.model import IntentConfig, IntentModel, IntentPrediction, Metrics, evaluate, fit

__all__ = ["IntentConfig", "IntentModel", "IntentPrediction", "LabelledTexts", "Metrics", "evaluate", "fit",
           "read_labelled"]
