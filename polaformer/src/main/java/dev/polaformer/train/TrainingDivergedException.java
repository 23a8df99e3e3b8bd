package dev.polaformer.train;

/** A non-finite loss or gradient stopped training; the message names the step and the parameter. */
public final class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message, Throwable cause) {
        super(message, cause);
    }
}
