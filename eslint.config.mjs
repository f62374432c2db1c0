import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", ".local/"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The TypeScript register hook and its compile cache: CommonJS that Node.js loads before TypeScript can run.
    files: ["scripts/*.js"],
    languageOptions: {
      sourceType: "commonjs",
      globals: {
        require: "readonly",
        exports: "writable",
        __dirname: "readonly",
        process: "readonly",
        Buffer: "readonly",
      },
    },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // Pulumi's callbackFactory must require() the SDK inside the closure.
      "@typescript-eslint/no-require-imports": "off",
    },
  },
);
