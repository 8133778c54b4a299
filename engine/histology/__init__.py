"""Histopathology: MPCS self-supervised pretraining across magnifications, BreakHis fine-tuning and evaluation.

Implements "Magnification Prior: A Self-Supervised Method for Learning Representations on Breast Cancer
Histopathological Images" (Chhipa et al., WACV 2023) as a library:

- :mod:`~engine.histology.dataset`: the BreakHis layout and file-name grammar, a generic folder layout and a CSV;
- :mod:`~engine.histology.splits`: leak-free folds by accession group, written to a manifest;
- :mod:`~engine.histology.mpcs`: pair strategies, projector, NT-Xent, augmentations and pretraining;
- :mod:`~engine.histology.encoders`: MobileNetV2 / ResNet-50 / dilated ResNet-50 encoders and their files;
- :mod:`~engine.histology.finetune` and :mod:`~engine.histology.metrics`: heads, label fractions, ILA/PLA;
- :mod:`~engine.histology.classifier`: trained classifiers saved, loaded with provenance, explained;
- :mod:`~engine.histology.retrieval`: embeddings and cross-magnification retrieval;
- :mod:`~engine.histology.runs`: whole runs (pretrain, fine-tune over folds, evaluate, the offline demo);
- :mod:`~engine.histology.synthetic`: magnification data cut from a CC0 H&E region (demo and test fixture);
- :mod:`~engine.histology.slides`: whole-slide and large images read by region and scored tile by tile;
- :mod:`~engine.histology.index`: embedding indexes, nearest neighbours, 2-D views, uncertainty ordering;
- :mod:`~engine.histology.jobs`: the training jobs the Histopathology tab starts;
- :mod:`~engine.histology.bundled`: the shipped MPCS encoder and the CC0 example tiles and index.

This package file imports nothing heavy, so ``python -m engine.histology scan`` starts fast.
"""
