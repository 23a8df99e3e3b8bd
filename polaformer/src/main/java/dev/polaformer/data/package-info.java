/**
 * The training data pipeline: datasets ({@link dev.polaformer.data.FashionMnist}, {@link dev.polaformer.data.ImageFolder}),
 * the official augmentation ({@link dev.polaformer.data.TrainTransform}, timm 0.4.12 semantics, spec §5.6), the
 * evaluation transform ({@link dev.polaformer.data.EvalTransform}) and a parallel, deterministic
 * {@link dev.polaformer.data.Loader}.
 *
 * <h2>Where this differs from timm 0.4.12 + Pillow, and why</h2>
 * <ul>
 * <li><b>Random numbers.</b> Every draw timm makes is made here, in timm's order within an image, with the same
 *     distributions, but from a {@link java.util.SplittableRandom} seeded by {@link dev.polaformer.data.Rng} per
 *     (seed, stream, epoch, position) instead of Python's {@code random}, numpy and torch. Identical seeds do not
 *     give timm's images; they give the same images for any worker count and on resume.</li>
 * <li><b>Pixels.</b> The crop resize is Pillow's 8-bit bicubic resize; the affine ops follow Pillow's
 *     transform-bicubic (a = −1, truncation) and the colour ops Pillow's integer and single-precision arithmetic.
 *     {@code PillowParityTest} checks every op, the flip and the crop resize against Pillow 9.4 on three test images:
 *     all pixels equal. (A C compiler contracting a float expression to FMA could still break a rare tie
 *     differently.) The SMOOTH filter behind Sharpness rounds as Pillow ≥ 9 does; Pillow 8 truncated. Colour and
 *     gray JPEGs and PNGs decode ({@link dev.polaformer.infer.RgbImage#read}) to the same bytes as Pillow 9.4's
 *     in the files checked.</li>
 * <li><b>Unreadable files.</b> Truncated JPEGs are refused (as Pillow does), but so are CMYK/YCCK JPEGs, which
 *     Pillow would convert; both are skipped by the loader. timm's {@code ImageDataset} substitutes index+1 for a
 *     bad sample; the loader substitutes the next position in the epoch order when dropping the last batch
 *     (training) and leaves the sample out otherwise (evaluation).</li>
 * <li><b>Kept quirks.</b> {@code inc0} still selects the increasing op set ({@code bool("0")} is true in timm); the
 *     magnitude is drawn even for ops without one; posterize at magnitude 10 keeps 0 bits (black).</li>
 * <li><b>Not implemented.</b> The weighted RandAugment choice ({@code w}), AugMix, AutoAugment policies, random
 *     interpolation, vertical flip and colour jitter (unused by PolaFormer++: timm disables jitter under RandAugment),
 *     and RandomErasing with more than one box. Mixup/CutMix act on batches and belong to the trainer.</li>
 * </ul>
 */
package dev.polaformer.data;
