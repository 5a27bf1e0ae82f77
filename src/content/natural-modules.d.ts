// Types for the natural modules imported by path (natural's root module is never loaded: it pulls in DB drivers).
declare module 'natural/lib/natural/distance/jaro-winkler_distance.js' {
  function JaroWinklerDistance(s1: string, s2: string, options?: { ignoreCase?: boolean }): number;
  export = JaroWinklerDistance;
}
declare module 'natural/lib/natural/distance/levenshtein_distance.js' {
  export function DamerauLevenshteinDistance(source: string, target: string, options?: { restricted?: boolean }): number;
}
declare module 'natural/lib/natural/classifiers/bayes_classifier.js' {
  class BayesClassifier {
    addDocument(text: string | string[], classification: string): void;
    train(): void;
    classify(text: string | string[]): string;
    getClassifications(text: string | string[]): { label: string; value: number }[];
  }
  export = BayesClassifier;
}
