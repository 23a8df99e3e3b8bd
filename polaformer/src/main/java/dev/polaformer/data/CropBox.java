package dev.polaformer.data;

/** A crop rectangle in pixels: columns {@code left .. left+width−1}, rows {@code top .. top+height−1}. */
record CropBox(int left, int top, int width, int height) {
    double area() {
        return (double) width * height;
    }
}
