package dev.polaformer.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code polaformer} command line. Exit codes: 0 success, 1 the work failed (bad file, bad input, numerical
 * failure; the message says which), 2 the command line was wrong.
 */
@Command(name = "polaformer", mixinStandardHelpOptions = true, version = "polaformer 0.1.0",
        description = "PolaFormer++ vision models (b0-b5) on the JVM: inspect, classify, run and convert.",
        subcommands = {DemoCommand.class, InfoCommand.class, ClassifyCommand.class, ForwardCommand.class, ConvertCommand.class,
                TrainCommand.class, EvalCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            boolean verbose = parsed.hasMatchedOption("--verbose");
            cmd.getErr().println(cmd.getCommandName() + ": error: " + message(e));
            if (verbose) e.printStackTrace(cmd.getErr());
            else cmd.getErr().println("(run with --verbose for the stack trace)");
            return 1;
        });
        return cli.execute(args);
    }

    private static String message(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        if (e instanceof java.nio.file.NoSuchFileException) m = "no such file: " + m;
        if (e instanceof OutOfMemoryError) m = "out of memory (" + m + "); raise -Xmx or use a smaller batch";
        return m;
    }
}
