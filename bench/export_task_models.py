#!/usr/bin/python3
"""Export torchvision's segmentation, video and detection architectures to ONNX for bench/zoo.py.

Opset 13, batch 1, random weights (BatchNorm statistics settled on random data by
../shared/models/make_models.py's settle_batchnorm, as the classifiers are). Segmentation
models return their "out" map at 1x3x224x224; video models take a 16-frame clip at 112x112
(s3d and the MViTs at 224x224, the smallest their strides and window sizes accept).
Speech models (torchaudio, Debian python3-torchaudio) take one second of 16 kHz audio, or 200
frames of 80 features (DeepSpeech; Conformer at its model width), each at a published size
where torchaudio has one (wav2vec2/HuBERT base, Conv-TasNet base, DeepSpeech's 2048 hidden).
Detection models take one 1x3x320x320 image and return their result dict's tensors as outputs
named by its keys (boxes, labels, scores, and masks or keypoints), with their score thresholds
at 0: with random weights the default thresholds leave nothing to compare. Their BatchNorm is
not settled (their training-mode forward needs targets). Downloads nothing.

usage: /usr/bin/python3 export_task_models.py SHARED_DIR OUTDIR NAME [NAME ...]
"""
import os
import sys

import torch
import torchvision


# torchaudio's speech architectures: name -> (model factory, example input). Sizes are the
# published ones where torchaudio names them; the rest as its docs and tests build them.
def speech_architectures():
    import torchaudio.models as ta

    def second():  # one second of 16 kHz audio, [batch, channel, time]
        return torch.randn(1, 1, 16000)

    return {
        # 1-D convolutions with a 250-sample first kernel, stride 160 (waveform input).
        "wav2letter": (lambda: ta.Wav2Letter(num_classes=40, input_type="waveform", num_features=1), second),
        # Bidirectional ReLU RNN between fully connected layers: [batch, channel, time, feature].
        "deepspeech": (lambda: ta.DeepSpeech(n_feature=80), lambda: torch.randn(1, 1, 200, 80)),
        # Upsampling network, residual 1-D convolutions and a GRU (teacher-forced forward).
        "wavernn": (lambda: WaveRnnFrames(ta.WaveRNN(upsample_scales=[5, 5, 11], n_classes=256, hop_length=275, n_freq=80)),
                    lambda: torch.randn(1, 1, 80, 24)),
        # Separation: dilated depthwise 1-D convolutions, PReLU and global layer norm.
        "conv_tasnet_base": (lambda: ta.conv_tasnet_base(num_sources=2), second),
        # Self-supervised speech encoders: GroupNorm'd convolutional front end, a weight-normed
        # positional convolution, 12 transformer layers with GELU.
        "wav2vec2_base": (lambda: FirstOutput(ta.wav2vec2_base()), lambda: torch.randn(1, 16000)),
        "hubert_base": (lambda: FirstOutput(ta.hubert_base()), lambda: torch.randn(1, 16000)),
        # Conformer-S's width (144, 4 heads, 16 layers, kernel 31): attention, GLU, depthwise
        # 1-D convolutions, BatchNorm; every frame valid.
        "conformer": (lambda: FullLengths(ta.Conformer(input_dim=144, num_heads=4, ffn_dim=576, num_layers=16,
                                                       depthwise_conv_kernel_size=31)),
                      lambda: torch.randn(1, 200, 144)),
        # Streaming transformer with memory banks (segments of 16 frames, 4 frames of right context).
        "emformer": (lambda: FullLengths(ta.Emformer(input_dim=512, num_heads=8, ffn_dim=2048, num_layers=20, segment_length=16,
                                                     right_context_length=4)),
                     lambda: torch.randn(1, 204, 512)),
        # PyTorch's own recurrent layers as a speech encoder: 3 bidirectional layers of hidden
        # size 512 over 200 frames of 80 features, then a linear head (exported as ONNX LSTM and
        # GRU, the GRU with linear_before_reset = 1).
        "lstm_encoder": (lambda: RecurrentEncoder("LSTM"), lambda: torch.randn(1, 200, 80)),
        "gru_encoder": (lambda: RecurrentEncoder("GRU"), lambda: torch.randn(1, 200, 80)),
        # Music source separation in the time and frequency domains (STFT inside).
        "hdemucs_low": (lambda: ta.hdemucs_low(sources=["drums", "bass", "other", "vocals"]), lambda: torch.randn(1, 2, 44100)),
    }


class RecurrentEncoder(torch.nn.Module):
    """torch.nn.LSTM or torch.nn.GRU (3 bidirectional layers, hidden 512, batch first) over
    [batch, frames, 80] features, and a linear layer to 40 classes."""
    def __init__(self, cell):
        super().__init__()
        self.rnn = getattr(torch.nn, cell)(80, 512, num_layers=3, bidirectional=True, batch_first=True)
        self.head = torch.nn.Linear(2 * 512, 40)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


class FirstOutput(torch.nn.Module):
    """The first tensor of a model that returns a tuple (features, lengths)."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[0]


class FullLengths(torch.nn.Module):
    """A model that takes (frames, lengths), with every frame valid: an integer lengths input
    would get random values from the benchmark tools."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        return self.model(x, lengths)[0]


class WaveRnnFrames(torch.nn.Module):
    """WaveRNN's teacher-forced forward on a spectrogram [batch, 1, 80, frames]. The waveform it
    is forced with covers (frames - kernel_size + 1) * hop_length samples; it is made from the
    spectrogram (each inner frame's first band, held for a hop) so the model has one input."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, specgram):
        b, _, _, frames = specgram.shape
        held = torch.tanh(specgram[:, :, 0, 2:frames - 2]).unsqueeze(-1).expand(b, 1, frames - 4, 275)
        return self.model(held.reshape(b, 1, (frames - 4) * 275), specgram)


def families():
    """Family name -> architectures, for the families this script exports (speech only where
    torchaudio is installed)."""
    out = {"segmentation": sorted(torchvision.models.list_models(module=torchvision.models.segmentation)),
           "video": sorted(torchvision.models.list_models(module=torchvision.models.video)),
           "detection": sorted(torchvision.models.list_models(module=torchvision.models.detection))}
    try:
        out["speech"] = sorted(speech_architectures())
    except ImportError:
        out["speech"] = []
    return out


class OutMap(torch.nn.Module):
    """A segmentation model's "out" tensor (torchvision returns a dict, which ONNX cannot)."""
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


class Detections(torch.nn.Module):
    """A detector's results for one image as a tuple (ONNX outputs cannot be a list of dicts)."""
    def __init__(self, model, keys):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, x):
        result = self.model(x)[0]
        return tuple(result[k] for k in self.keys)


def detection_keys(name):
    extra = ["masks"] if name.startswith("maskrcnn") else ["keypoints", "keypoints_scores"] if name.startswith("keypointrcnn") else []
    return ["boxes", "labels", "scores"] + extra


def build(name):
    seg = torchvision.models.segmentation
    if name in torchvision.models.list_models(module=seg):
        return OutMap(getattr(seg, name)(weights=None, weights_backbone=None)), torch.randn(1, 3, 224, 224)
    video = torchvision.models.video
    if name in torchvision.models.list_models(module=video):
        side = 224 if name in ("s3d", "mvit_v1_b", "mvit_v2_s") else 112
        return getattr(video, name)(weights=None), torch.randn(1, 3, 16, side, side)
    detection = torchvision.models.detection
    if name in torchvision.models.list_models(module=detection):
        rcnn = name.startswith(("fasterrcnn", "maskrcnn", "keypointrcnn"))
        thresholds = {"box_score_thresh": 0.0} if rcnn else {"score_thresh": 0.0}
        model = getattr(detection, name)(weights=None, weights_backbone=None, **thresholds)
        return Detections(model, detection_keys(name)), torch.randn(1, 3, 320, 320)
    speech = speech_architectures()
    if name in speech:
        make, example = speech[name]
        return make(), example()
    raise SystemExit(f"{name}: not a torchvision segmentation, video or detection architecture, nor a torchaudio speech one")


def main(shared, out, names):
    sys.path.insert(0, os.path.join(shared, "models"))
    from make_models import settle_batchnorm
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    for name in names:
        model, x = build(name)
        outputs = None
        if isinstance(model, Detections):
            outputs = model.keys
        else:
            settle_batchnorm(model, (x,))
        model.eval()
        torch.onnx.export(model, (x,), os.path.join(out, name + ".onnx"), opset_version=13, input_names=["input"],
                          output_names=outputs, do_constant_folding=True)
        print(name, "exported")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
