/** Import rules: no cycles, and data flows one way through the pipeline (docs/architecture.md). */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Import cycles make the pipeline impossible to read top to bottom.",
      from: {},
      to: { circular: true },
    },
    {
      name: "relation-stands-alone",
      severity: "error",
      comment: "Reading relation data knows nothing of the store, the agent or the loop.",
      from: { path: "^src/relation/" },
      to: { path: "^src/(store|agent|loop|reconcile|state-dir|api|cli)/" },
    },
    {
      name: "stages-do-not-reach-up",
      severity: "error",
      comment: "Only reconcile ties the stages together; only cli wires.",
      from: { path: "^src/(store|agent|relation|delivery)/" },
      to: { path: "^src/(loop|reconcile|state-dir|api|cli)/" },
    },
    {
      name: "store-and-agent-are-separate-stages",
      severity: "error",
      comment: "The check and the agent runner meet only in reconcile.",
      from: { path: "^src/(store|agent)/" },
      to: { path: "^src/(agent|store)/", pathNot: "^src/$1/" },
    },
    {
      name: "delivery-stands-alone",
      severity: "error",
      comment:
        "Reading the agent's metrics knows nothing of the loop, the agent runners or the check.",
      from: { path: "^src/delivery/" },
      to: { path: "^src/(relation|store|agent|loop|reconcile|state-dir|api|cli)/" },
    },
    {
      name: "relay-stands-alone",
      severity: "error",
      comment:
        "The relay forwards bytes to the store it is given: it knows nothing of the loop, the check or the agent.",
      from: { path: "^src/relay/" },
      to: { path: "^src/(relation|store|agent|delivery|loop|reconcile|state-dir|api|cli)/" },
    },
    {
      name: "core-imports-no-stage",
      severity: "error",
      comment: "src/core holds what every stage uses; it depends on none of them.",
      from: { path: "^src/core/" },
      to: { path: "^src/(?!core/)" },
    },
    {
      name: "the-loop-is-pure",
      severity: "error",
      comment:
        "src/loop holds the rules as functions of state and event: no executor, nothing that does I/O.",
      from: { path: "^src/loop/" },
      to: { path: "^src/(reconcile|state-dir|api|cli)/|^src/delivery/scrape\\.ts$" },
    },
    {
      name: "the-loop-runs-no-processes",
      severity: "error",
      comment: "The loop's rules see the agent only as its Runner's types and rendered flags.",
      from: { path: "^src/loop/" },
      to: { path: "^src/agent/", pathNot: "^src/agent/(runner|flags)\\.ts$" },
    },
    {
      name: "builtins-stay-out-of-the-loop",
      severity: "error",
      comment: "No Node built-in in the loop: no files, sockets, processes or timers.",
      from: { path: "^src/loop/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "the-state-dir-decides-nothing",
      severity: "error",
      comment:
        "What the state dir keeps is read and written there; the loop and the wiring decide.",
      from: { path: "^src/state-dir/" },
      to: { path: "^src/(store|agent|reconcile|api|cli)/" },
    },
    {
      name: "loose-files-are-shared-ground",
      severity: "error",
      comment:
        "The files at the top of src/ (flag names, secrets, logging, problems, yaml) are used by every room and import none but core.",
      from: { path: "^src/[^/]+\\.ts$", pathNot: "^src/cli\\.ts$" },
      to: { path: "^src/(?!core/)[^/]+/" },
    },
    {
      name: "commands-do-not-import-each-other",
      severity: "error",
      comment: "Each command stands on its own; what two share lives in a module of its own.",
      from: { path: "^src/cli/(check|render|status|pause|run)\\.ts$" },
      to: { path: "^src/cli/(check|render|status|pause|run|main)\\.ts$" },
    },
    {
      name: "reconcile-meets-agent-through-narrow-interfaces",
      severity: "error",
      comment: "The loop drives the agent only through the Runner interface and flag rendering.",
      from: { path: "^src/reconcile/" },
      to: { path: "^src/agent/", pathNot: "^src/agent/(runner|flags)\\.ts$" },
    },
    {
      name: "nothing-imports-cli",
      severity: "error",
      from: { path: "^src/(?!cli)" },
      to: { path: "^src/cli" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^src/gen/" },
  },
};
