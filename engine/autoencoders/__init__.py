"""Autoencoders with pixel-wise, deep perceptual and feature-prediction losses, and the loss-network study.

Implements three papers by Pihlgren, Sandin and Liwicki (and co-authors) as one tool:
*Improving Image Autoencoder Embeddings with Perceptual Loss* (IJCNN 2020), *Pretraining Image
Encoders without Reconstruction via Feature Prediction Loss* (ICPR 2020) and *A Systematic
Performance Analysis of Deep Perceptual Loss Networks* (the 14 x 4 loss networks are in
:mod:`engine.backbones`).

Modules: :mod:`.scenes` (generated data), :mod:`.data` (image sets, user folders), :mod:`.procedures`
(the six procedures and three losses), :mod:`.models` (the FourLayerCVAE family),
:mod:`.loss_networks` (one named layer as a frozen loss network, cached features), :mod:`.training`
(one procedure on the shared loop), :mod:`.predictors` (embedding evaluation), :mod:`.experiment`
(train + evaluate + files; the tab's job), :mod:`.study` (the architecture x layer sweep and its
claims), :mod:`.projection` (2-D embedding views), :mod:`.plots`.

Results with the random-init or MobileNetV2 loss networks available offline are this tool's own
measurements; they are not the papers' numbers.
"""
