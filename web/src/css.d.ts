// CSS imports are bundled by esbuild (into dist/app.css); they export nothing.
declare module '*.css';
