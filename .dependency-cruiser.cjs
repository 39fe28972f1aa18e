/** Import rules: no cycles, and data flows one way through the pipeline (see STYLE.md). */
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
      to: { path: "^src/(store|agent|reconcile|api|cli)/" },
    },
    {
      name: "stages-do-not-reach-up",
      severity: "error",
      comment: "Only reconcile ties the stages together; only cli wires.",
      from: { path: "^src/(store|agent|relation)/" },
      to: { path: "^src/(reconcile|api|cli)/" },
    },
    {
      name: "store-and-agent-are-separate-stages",
      severity: "error",
      comment: "The check and the agent runner meet only in reconcile.",
      from: { path: "^src/(store|agent)/" },
      to: { path: "^src/(agent|store)/", pathNot: "^src/$1/" },
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
