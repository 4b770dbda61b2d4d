//! Feature matrices: `n` samples of `d` features, the input of every distribution metric.

/// Row-major `n × d` features (f64, for accurate covariance and distances).
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub n: usize,
    pub d: usize,
    pub data: Vec<f64>,
}

impl Features {
    /// Panics if `data.len() != n * d` (a programming error, not user input).
    pub fn new(n: usize, d: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), n * d, "feature matrix is not n × d");
        Self { n, d, data }
    }

    pub fn from_f32(d: usize, data: &[f32]) -> Self {
        Self::new(data.len() / d.max(1), d, data.iter().map(|&v| v as f64).collect())
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.data.chunks_exact(self.d.max(1))
    }

    /// The rows at `indices`.
    pub fn select(&self, indices: &[usize]) -> Features {
        let mut data = Vec::with_capacity(indices.len() * self.d);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Features::new(indices.len(), self.d, data)
    }
}

pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
