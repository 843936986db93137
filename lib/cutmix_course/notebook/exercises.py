"""What each exercise may not call: part of the exercise's contract, stated in its prose (a test checks that the
prose lists the same names), watched by the tripwire in the public checks and in the hidden tests.

Every function and class of the course that implements the exercise (private helpers included) and the library
functions that compute its answer outright, C functions and methods included, by dotted name.
"""
from __future__ import annotations

_SOFTMAX = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax", "torch.nn.Softmax",
            "torch.special.softmax", "torch._softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
            "torch.nn.functional.log_softmax", "torch.nn.LogSoftmax", "torch.special.log_softmax")
_CUTOUT = ("cutmix_course.core.augment.cutout", "cutmix_course.core.augment.Cutout",
           "cutmix_course.core.augment.box_mask", "cutmix_course.core.augment._clip",
           "cutmix_course.core.augment._box_spans", "cutmix_course.core.augment._hole_spans",
           "cutmix_course.core.augment._fill",
           "cutmix_course.core.train.occlude", "torchvision.transforms.v2.RandomErasing",
           "torchvision.transforms.v2.functional.erase", "torchvision.transforms.RandomErasing",
           "torchvision.transforms.functional.erase")

# Left out: augment._arange and augment._box_limits, cached constants that compute no part of an answer.
FORBIDDEN = {
    "channel_mean_std": ("cutmix_course.core.data.channel_stats", "cutmix_course.core.data.summary"),
    "normalize": ("cutmix_course.core.data.DataSplit.normalize", "torchvision.transforms.v2.Normalize",
                  "torchvision.transforms.v2.functional.normalize", "torchvision.transforms.Normalize",
                  "torchvision.transforms.functional.normalize"),
    "cutout_one": _CUTOUT,
    "cutout_batch": _CUTOUT,
    "sample_box": ("cutmix_course.core.augment.rand_bbox", "cutmix_course.core.augment._rand_bbox",
                   "cutmix_course.core.augment._signed_half_sides",
                   "cutmix_course.core.augment._clip", "cutmix_course.core.augment.cutmix",
                   "cutmix_course.core.augment.CutMix", "torchvision.transforms.v2.CutMix"),
    "cutmix_batch": ("cutmix_course.core.augment.cutmix", "cutmix_course.core.augment.CutMix",
                     "cutmix_course.core.augment.paste_boxes",
                     "cutmix_course.core.augment._paste_boxes", "cutmix_course.core.augment._blend",
                     "cutmix_course.core.augment.lambda_from_boxes", "cutmix_course.core.augment.box_area",
                     "cutmix_course.core.augment.box_mask", "cutmix_course.core.augment._box_spans",
                     "cutmix_course.core.augment.rand_bbox", "cutmix_course.core.augment._rand_bbox",
                     "torchvision.transforms.v2.CutMix"),
    "cutmix_per_sample": ("cutmix_course.core.augment.cutmix", "cutmix_course.core.augment.CutMix",
                          "cutmix_course.core.augment.paste_boxes", "cutmix_course.core.augment._paste_boxes",
                          "cutmix_course.core.augment._blend", "cutmix_course.core.augment.lambda_from_boxes",
                          "cutmix_course.core.augment.box_area", "cutmix_course.core.augment.box_mask",
                          "cutmix_course.core.augment._box_spans", "cutmix_course.core.augment.rand_bbox",
                          "cutmix_course.core.augment._rand_bbox", "cutmix_course.core.augment._signed_half_sides",
                          "cutmix_course.core.augment._clip",
                          "torchvision.transforms.v2.CutMix"),
    "soft_target_loss": ("cutmix_course.core.augment.soft_target_cross_entropy", "torch.nn.functional.cross_entropy",
                         "torch.nn.CrossEntropyLoss", "torch.nn.functional.nll_loss", "torch.nn.NLLLoss",
                         "torch._C._nn.cross_entropy_loss", "torch._C._nn.nll_loss", "torch._C._nn.nll_loss_nd"),
    "softmax": _SOFTMAX,
    "top_k": _SOFTMAX,
}


