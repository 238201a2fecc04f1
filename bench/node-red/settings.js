// Node-RED settings for bench/peers.py (#19): loopback only, the flow from this folder,
// Node-RED and its user data in bench/.node-red (gitignored), defaults otherwise.
const path = require("path");
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: parseInt(process.env.NODE_RED_PORT || "1880", 10),
    userDir: path.join(__dirname, "..", ".node-red"),
    flowFile: path.join(__dirname, "flow.json"),
    credentialSecret: false,
    editorTheme: { tours: false },
    logging: { console: { level: "warn", metrics: false, audit: false } },
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
};
