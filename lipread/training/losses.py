"""Training losses over the targets batches.py packs: CTC (mixed for mixup) plus a
per-frame distillation term, and the word head's cross-entropy (mixed likewise)."""
from __future__ import annotations

from lipread.constants import N_FRAMES
from lipread.grid import BLANK_ID, NUM_CLASSES
from lipread.training.dataset import MAX_LABEL_LEN

KD_WEIGHT = 1.0  # the distillation term's weight beside the CTC loss
KD_TEMPERATURE = 1.0  # both distributions softened by T (Hinton et al. 2015), the term x T^2
EPS = 1e-8


def ctc_loss(y_true, y_pred):
    """CTC loss with each sample's true label length (labels are padded with id 0)."""
    from keras import ops

    labels = ops.cast(y_true, "int32")
    label_len = ops.sum(ops.cast(ops.not_equal(labels, 0), "int32"), axis=-1)
    batch, frames = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
    logit_len = ops.full((batch,), frames, dtype="int32")
    # The network outputs probabilities; log() of them are valid logits for CTC.
    log_probs = ops.log(ops.clip(y_pred, 1e-8, 1.0))
    return ops.ctc_loss(labels, log_probs, label_len, logit_len, mask_index=BLANK_ID)


def unpack_chars(y_true):
    """Labels of clip a and b (int32), ratio of a, teacher term on (0/1), teacher probs."""
    from keras import ops

    n = MAX_LABEL_LEN
    a = ops.cast(y_true[:, :n], "int32")
    b = ops.cast(y_true[:, n:2 * n], "int32")
    lam, kd_on = y_true[:, 2 * n], y_true[:, 2 * n + 1]
    return a, b, lam, kd_on, y_true[:, 2 * n + 2:]


def distillation(teacher, y_pred, temperature=KD_TEMPERATURE):
    """Sum over frames of KL(teacher || student), both softened by `temperature`, x T^2."""
    from keras import ops

    teacher = ops.reshape(teacher, (-1, N_FRAMES, NUM_CLASSES))
    log_s = ops.log_softmax(ops.log(ops.clip(y_pred, EPS, 1.0)) / temperature, axis=-1)
    log_t = ops.log_softmax(ops.log(ops.clip(teacher, EPS, 1.0)) / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_t) * (log_t - log_s), axis=-1)
    return ops.sum(kl, axis=-1) * temperature ** 2


def chars_loss(kd_weight=0.0, temperature=KD_TEMPERATURE):
    """lam * CTC(a) + (1 - lam) * CTC(b) [+ kd_weight * distillation where switched on]."""
    def loss(y_true, y_pred):
        from keras import ops

        a, b, lam, kd_on, teacher = unpack_chars(y_true)
        value = lam * ctc_loss(a, y_pred)
        # Clip b is clip a where nothing was mixed: its CTC term then has weight 0.
        value = value + (1.0 - lam) * ops.where(lam < 1.0, ctc_loss(b, y_pred), 0.0)
        if kd_weight:
            value = value + kd_weight * kd_on * distillation(teacher, y_pred, temperature)
        return value
    loss.__name__ = "ctc_loss"
    return loss


def words_loss(y_true, y_pred):
    """Per-frame cross-entropy of the word head on logits, mixed like the CTC term."""
    from keras import losses, ops

    a = ops.cast(y_true[:, :N_FRAMES], "int32")
    b = ops.cast(y_true[:, N_FRAMES:2 * N_FRAMES], "int32")
    lam = y_true[:, 2 * N_FRAMES:2 * N_FRAMES + 1]
    ce = losses.sparse_categorical_crossentropy
    return lam * ce(a, y_pred, from_logits=True) + (1 - lam) * ce(b, y_pred, from_logits=True)
