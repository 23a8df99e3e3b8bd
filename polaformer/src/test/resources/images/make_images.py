# Writes the images the preprocessing tests use, and Pillow's bicubic resizes of them (Debian python3-pil 9.4):
#   /usr/bin/python3 make_images.py
import random
from PIL import Image

random.seed(3)
def picture(w, h):
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 7 + y * 3) % 256, (x * x + y * 5) % 256, random.randrange(256))
    return im

for name, (w, h), (ow, oh) in (("down", (160, 120), (48, 36)), ("up", (37, 29), (90, 70))):
    im = picture(w, h)
    im.save(name + ".png")
    with open(name + ".resized.rgb", "wb") as f:
        f.write(im.resize((ow, oh), Image.BICUBIC).tobytes())

# Variants that must be converted: grayscale, palette, 16-bit grayscale, RGBA; and a JPEG.
base = picture(50, 40)
base.convert("L").save("gray.png")
base.convert("P").save("palette.png")
Image.frombytes("I;16", (50, 40), bytes(random.randrange(256) for _ in range(50 * 40 * 2))).save("gray16.png")
base.convert("RGBA").save("rgba.png")
base.save("photo.jpg", quality=90)
base.convert("CMYK").save("cmyk.jpg")
with open("not_an_image.jpg", "wb") as f:
    f.write(b"this is plain text, not a JPEG\n")
