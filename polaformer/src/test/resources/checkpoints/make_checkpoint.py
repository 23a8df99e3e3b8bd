# Writes tiny_checkpoint.pth, the real torch.save checkpoint the reader tests load (Debian python3-torch 1.13).
# Run: /usr/bin/python3 make_checkpoint.py   (deterministic: fixed seed; the test checks values bit for bit)
import collections
import torch

torch.manual_seed(0)
model = collections.OrderedDict()
model["module.conv.weight"] = torch.randn(4, 3, 3, 3)                       # F32
model["module.conv.bias"] = torch.randn(4)
model["module.norm.running_mean"] = torch.randn(4)
model["module.norm.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
base = torch.randn(5, 6)
model["module.fc.weight"] = base.t()                                        # non-contiguous view: stride (1, 6)
model["module.fc.bias"] = base[2, 1:5]                                      # offset view into the same storage
model["module.half"] = torch.randn(2, 3).half()                             # F16
model["module.bf16"] = torch.randn(3).bfloat16()                            # BF16
model["module.double"] = torch.randn(2, 2).double()                         # F64
ema = collections.OrderedDict((k, v.clone() * 2 if v.is_floating_point() else v.clone()) for k, v in model.items())
checkpoint = {
    "model": model,
    "model_ema": ema,
    "optimizer": {"state": {0: {"step": 3, "exp_avg": torch.zeros(2)}}, "param_groups": [{"lr": 1e-3, "weight_decay": 0.05, "params": [0]}]},
    "epoch": 12,
    "max_accuracy": 71.5,
    "flags": (True, False, None),
}
torch.save(checkpoint, "tiny_checkpoint.pth")

# The same tensors, contiguous and in float32 (float64 for the double one), for the test to compare against.
import struct
with open("tiny_checkpoint.expected.txt", "w") as f:
    for prefix, sd in (("model", model), ("model_ema", ema)):
        for k, v in sd.items():
            vals = v.contiguous().reshape(-1)
            if v.dtype == torch.int64:
                f.write("%s.%s I64 %s %s\n" % (prefix, k, "[" + ",".join(str(d) for d in v.shape) + "]", " ".join(str(int(x)) for x in vals)))
            else:
                f.write("%s.%s %s %s %s\n" % (prefix, k, str(v.dtype).replace("torch.", ""), "[" + ",".join(str(d) for d in v.shape) + "]",
                        " ".join("%08x" % struct.unpack("<I", struct.pack("<f", float(x)))[0] for x in vals.float())))
