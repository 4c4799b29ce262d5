package org.opensearch.node;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single OpenSearch node for tests, started in this JVM from the Maven Central artifacts listed in
 * ../../../../../../pom.xml (no distribution, no security plugin: request signatures are ignored).
 *
 * <p>It lives in package {@code org.opensearch.node} to reach {@link Node}'s protected constructor,
 * which accepts plugin classes from the classpath: {@link Netty4Plugin} (the HTTP REST transport) and
 * {@link MapperExtrasPlugin} ({@code scaled_float}, needed by Temporal's visibility template).
 *
 * <p>Usage: {@code java -Xmx512m -cp <classpath> org.opensearch.node.LocalOpenSearchNode <home-dir> [http-port]}.
 * Settings in {@code <home-dir>/config/opensearch.yml}, when present, are read too (the secured node's
 * security plugin settings). {@code http-port} defaults to 0 (a free port chosen by the OS). Binds to 127.0.0.1 only. When the
 * node is up it prints one line {@code OPENSEARCH_HTTP_PORT=<port>} to stdout and writes the same
 * port to {@code <home-dir>/http.port}. It stops (closing the node cleanly) on SIGTERM/SIGINT, or
 * when its stdin reaches end of file, so that a test runner that dies takes the node with it.
 * Exit status 1 with a message on stderr if the node cannot start.
 */
public final class LocalOpenSearchNode extends Node {

    private LocalOpenSearchNode(Settings settings, Collection<Class<? extends Plugin>> plugins) {
        super(InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "local"), plugins, false);
    }

    /**
     * The plugin classes: HTTP transport and scaled_float, plus the classes named in the system property
     * {@code opensearch.local.plugins} (comma-separated, e.g. the security plugin's
     * {@code org.opensearch.security.OpenSearchSecurityPlugin}, whose jars the caller puts on the classpath).
     */
    static List<Class<? extends Plugin>> pluginClasses() throws ClassNotFoundException {
        List<Class<? extends Plugin>> plugins = new ArrayList<>(List.of(Netty4Plugin.class, MapperExtrasPlugin.class));
        for (String name : System.getProperty("opensearch.local.plugins", "").split(",")) {
            if (!name.isBlank()) plugins.add(Class.forName(name.trim()).asSubclass(Plugin.class));
        }
        return plugins;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: LocalOpenSearchNode <home-dir> [http-port, default 0 = any free port]");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        String httpPort = args.length > 1 ? args[1] : "0";
        if (!httpPort.matches("\\d{1,5}")) {
            System.err.println("http-port must be a number from 0 to 65535, got '" + httpPort + "'");
            System.exit(2);
        }
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));

        Settings settings = Settings.builder()
            .put("cluster.name", "opensearch-local")
            .put("node.name", "local")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", "0")
            // A test machine's disk may be fuller than the default watermarks allow.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("logger.level", System.getProperty("opensearch.local.log.level", "WARN"))
            .build();
        LogConfigurator.configureWithoutConfig(settings);

        final LocalOpenSearchNode node;
        try {
            node = new LocalOpenSearchNode(settings, pluginClasses());
            node.start();
        } catch (Exception e) {
            System.err.println("opensearch-local: node failed to start: " + e);
            e.printStackTrace();
            System.exit(1);
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException e) {
                System.err.println("opensearch-local: close failed: " + e);
            } finally {
                stopped.countDown();
            }
        }, "opensearch-local-shutdown"));

        TransportAddress bound = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        int port = bound.getPort();
        Files.writeString(home.resolve("http.port"), Integer.toString(port));
        System.out.println("OPENSEARCH_HTTP_PORT=" + port);
        System.out.flush();

        // Stop when the parent closes our stdin (or dies). A daemon-less main thread keeps us alive.
        if (!Boolean.getBoolean("opensearch.local.ignoreStdin")) {
            InputStream in = System.in;
            byte[] buf = new byte[256];
            while (in.read(buf) >= 0) {
                // discard
            }
            System.exit(0);
        }
        stopped.await();
    }
}
