export { appFileNames, findAppFile, type LoadedApp, loadApp } from "./loader/load-app.ts";
